//! The pad image's class distribution over dropout passes (seed [S3](crate#seed-studies)'s
//! stability test for one image) of the workbench's own pad image, computed on the
//! `mnist-pad-votes` thread when the Stability panel asks and cached per pad revision and
//! model.

use super::Workbench;
use crate::jobs::{self, Outcome};
use crate::study::stability::class_distribution;
use crate::ui::job_slot::JobSlot;

/// The pad image's predicted classes over 100 dropout passes.
#[derive(Debug, Clone, PartialEq)]
pub struct PadVotes {
    /// Pad revision.
    pub revision: u64,
    /// Model version.
    pub model_version: u64,
    /// Share of passes per digit (None: the model has no dropout).
    pub shares: Option<[f64; 10]>,
}

/// Passes behind the pad's class distribution.
pub const PAD_PASSES: usize = 100;

/// The pad's latest dropout votes and the job computing new ones.
#[derive(Default)]
pub struct PadVotesState {
    /// The latest votes.
    pub latest: Option<PadVotes>,
    job: JobSlot<(), PadVotes, ()>,
    /// A panel showed the votes this frame ([`super::Action::WantPadVotes`]): keep them current.
    pub(super) wanted: bool,
}

impl Workbench {
    /// The class shares of the pad image ([`Workbench::pad`]) over [`PAD_PASSES`] dropout
    /// passes, computed on a thread of their own (the window never waits for 100 forward
    /// passes) and cached per pad revision and model. While new votes are computed the
    /// latest ones are returned; the caller repaints while [`Self::pad_votes_pending`] says so.
    /// Panels read [`Self::pad_votes`] and send [`super::Action::WantPadVotes`]; the
    /// workbench's logic calls this while they do.
    pub(super) fn refresh_pad_votes(&mut self) -> Option<PadVotes> {
        let m = self.model.as_ref()?;
        match self.pad_votes.job.poll() {
            Some((_, Outcome::Finished(votes))) => self.pad_votes.latest = Some(votes),
            // A failure in burn leaves the votes as they were (the panel shows the last ones).
            Some((_, Outcome::Failed(_) | Outcome::Cancelled)) => {}
            None if self.pad_votes.job.is_running() => return self.pad_votes.latest.clone(),
            None => {}
        }
        let revision = self.pad.revision();
        let current = self.pad_votes.latest.as_ref();
        if current.is_some_and(|v| v.revision == revision && v.model_version == m.version) {
            return current.cloned();
        }
        let (model, device, version) = (m.model.clone(), m.device.clone(), m.version);
        let input: Vec<f32> = self
            .pad
            .pixels()
            .iter()
            .map(|&v| crate::data::normalize_intensity(v))
            .collect();
        let spawned = jobs::spawn("mnist-pad-votes", self.wake.clone(), move |_| {
            let shares = (crate::model::mc::dropout_prob(&model) > 0.0)
                .then(|| class_distribution(&model, &input, PAD_PASSES, revision, &device));
            Ok(PadVotes {
                revision,
                model_version: version,
                shares,
            })
        });
        if let Ok(job) = spawned {
            self.pad_votes.job.start(job, ());
        }
        self.pad_votes.latest.clone()
    }

    /// The latest dropout votes of the pad image (perhaps of an earlier revision while new
    /// ones are computed; None before the first).
    pub fn pad_votes(&self) -> Option<PadVotes> {
        self.pad_votes.latest.clone()
    }

    /// Keeps the votes current while a panel shows them; called once per frame.
    pub(super) fn pad_votes_logic(&mut self) {
        if std::mem::take(&mut self.pad_votes.wanted) {
            self.refresh_pad_votes();
        }
    }

    /// Whether dropout votes for the pad are being computed.
    pub fn pad_votes_pending(&self) -> bool {
        self.pad_votes.job.is_running()
    }
}
