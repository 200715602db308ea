//! Places for connections that have not authenticated yet: a count for the whole front
//! ([`super::front::FrontLimits::max_pending`]) and one per peer address
//! ([`super::front::FrontLimits::max_pending_per_peer`]), so one host that opens sockets and
//! never signs in cannot take every place and lock out the clients that hold the token.
//! Each place is a guard given back when dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One place counted against a limit, given back when dropped.
pub(super) struct Slot(Arc<AtomicUsize>);

impl Slot {
    pub(super) fn take(counter: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Self(counter.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Connections waiting to authenticate, per peer address.
#[derive(Default)]
pub(super) struct PeerCounts(Mutex<HashMap<IpAddr, usize>>);

/// Why a connection got no place.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoPlace {
    /// The whole front is full.
    Front(usize),
    /// This peer already holds its share.
    Peer(usize),
}

/// A connection's place while it authenticates: one of the front's and one of its peer's.
pub(super) struct Pending {
    _front: Slot,
    counts: Arc<PeerCounts>,
    ip: IpAddr,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A place for a connection from `ip`, or why there is none.
pub(super) fn admit(
    front: &Arc<AtomicUsize>,
    counts: &Arc<PeerCounts>,
    ip: IpAddr,
    (max_front, max_peer): (usize, usize),
) -> Result<Pending, NoPlace> {
    let mut map = counts.0.lock().unwrap_or_else(|e| e.into_inner());
    let held = map.get(&ip).copied().unwrap_or(0);
    if held >= max_peer {
        return Err(NoPlace::Peer(max_peer));
    }
    let slot = Slot::take(front, max_front).ok_or(NoPlace::Front(max_front))?;
    map.insert(ip, held + 1);
    drop(map);
    Ok(Pending {
        _front: slot,
        counts: counts.clone(),
        ip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_peer_cannot_take_every_place_and_places_come_back() {
        let front = Arc::new(AtomicUsize::new(0));
        let counts = Arc::new(PeerCounts::default());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let limits = (4, 2);
        let first: Vec<Pending> = (0..2).map(|_| admit(&front, &counts, a, limits).unwrap()).collect();
        assert_eq!(admit(&front, &counts, a, limits).err(), Some(NoPlace::Peer(2)));
        let other: Vec<Pending> = (0..2).map(|_| admit(&front, &counts, b, limits).unwrap()).collect();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(admit(&front, &counts, c, limits).err(), Some(NoPlace::Front(4)));
        drop(first);
        assert_eq!(front.load(Ordering::SeqCst), 2);
        assert!(admit(&front, &counts, a, limits).is_ok(), "a's places came back");
        drop(other);
        assert_eq!(front.load(Ordering::SeqCst), 0);
        assert!(counts.0.lock().unwrap().is_empty(), "no entry kept for a peer with no connection");
    }
}
