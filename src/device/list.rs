//! A list of devices for work spread over several (`--device flex,remote://gpu1:3950,…`):
//! parsing, and opening each with a note for the ones that cannot be opened.

use super::{Backend, DeviceChoice, DeviceError, SelectedDevice, select_device};

/// Most devices one list may name.
pub const MAX_DEVICES: usize = 64;

/// One device or several, comma-separated, each as [`DeviceChoice`] parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceList(pub Vec<DeviceChoice>);

impl std::str::FromStr for DeviceList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() > MAX_DEVICES {
            return Err(format!("{} devices listed; at most {MAX_DEVICES}", parts.len()));
        }
        let mut choices: Vec<DeviceChoice> = Vec::with_capacity(parts.len());
        for part in parts {
            if part.is_empty() {
                return Err(format!("{s:?}: an empty entry in the device list"));
            }
            let choice: DeviceChoice = part.parse()?;
            if choices.contains(&choice) {
                return Err(format!("{part} is listed twice"));
            }
            choices.push(choice);
        }
        Ok(Self(choices))
    }
}

impl std::fmt::Display for DeviceList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&names.join(","))
    }
}

/// Opens every device of `list`. With one device, its failure is the error. With several, a
/// device that cannot be opened is left out and `note` says why; the error comes only when
/// none opens.
pub fn select_devices(list: &DeviceList, note: &mut dyn FnMut(String)) -> Result<Vec<SelectedDevice>, DeviceError> {
    if let [one] = list.0.as_slice() {
        return select_device(one.clone()).map(|d| vec![d]);
    }
    let mut opened: Vec<SelectedDevice> = Vec::new();
    let mut opened_from: Vec<&DeviceChoice> = Vec::new();
    let mut last_error = None;
    for choice in &list.0 {
        match select_device(choice.clone()) {
            Ok(device) => {
                opened.push(device);
                opened_from.push(choice);
            }
            Err(e) => {
                note(format!("{choice} left out: {e}"));
                last_error = Some(e);
            }
        }
    }
    // `auto,flex` on a machine without a GPU: named as listed, not by the device's name twice.
    if let Some((a, b)) = same_device(&opened) {
        return Err(DeviceError::Duplicate(format!(
            "{} and {} both open {}, one device of this machine; list it once",
            opened_from[a], opened_from[b], opened[a].name
        )));
    }
    match (opened.is_empty(), last_error) {
        (true, Some(e)) => Err(e),
        _ => Ok(opened),
    }
}

/// Refuses two entries that are the same device of this machine (`auto` and `flex` on a
/// machine without a GPU): they would share one backend, whose random numbers several runs at
/// once would draw from in turn, so a run's result would depend on the other's.
pub fn distinct(devices: &[SelectedDevice]) -> Result<(), String> {
    match same_device(devices) {
        Some((a, b)) => Err(format!(
            "{} and {} are the same device of this machine; list it once",
            devices[a].name, devices[b].name
        )),
        None => Ok(()),
    }
}

/// The first two entries (indices) that are one device of this machine, if any; remote
/// devices are never the same (two servers may run on one host).
fn same_device(devices: &[SelectedDevice]) -> Option<(usize, usize)> {
    devices.iter().enumerate().find_map(|(i, a)| {
        (a.backend != Backend::Remote)
            .then(|| devices[i + 1..].iter().position(|b| b.backend == a.backend))
            .flatten()
            .map(|j| (i, i + 1 + j))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_print_and_refuse_what_cannot_work() {
        let list: DeviceList = "flex, remote://a:3950,remote://b:3951".parse().unwrap();
        assert_eq!(list.0.len(), 3);
        assert_eq!(list.to_string(), "flex,remote://a:3950,remote://b:3951");
        assert_eq!("auto".parse::<DeviceList>().unwrap().0, vec![DeviceChoice::Auto]);
        for (bad, says) in [
            ("flex,,remote://a:1", "empty entry"),
            ("flex,cpu", "listed twice"),
            ("flex,tpu", "unknown device 'tpu'"),
            ("remote://a", "expected remote://HOST:PORT"),
        ] {
            let e = bad.parse::<DeviceList>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let many = vec!["remote://h:1"; MAX_DEVICES + 1].join(",");
        assert!(many.parse::<DeviceList>().unwrap_err().contains("at most"));
    }
}
