//! Matching a checkpoint's tensors to our layers. PyTorch names vary (`conv1.weight`,
//! `features.0.weight`, `c1.weight` …), so tensors are grouped into modules by their prefix,
//! each module's role is read from its tensors (a 4-d weight is a convolution, a 2-d one a
//! linear layer, running statistics make a BatchNorm), and our layers take, in order, the
//! module whose shapes fit. `--map ours=theirs` settles what shapes cannot.

use std::collections::{BTreeMap, HashMap};

use super::ImportError;
use super::checkpoint::{Checkpoint, ForeignTensor};
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::model::ModelSpec;
use crate::model::plain::{Architecture, PlainWeights};

/// What a module of the checkpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Convolution, weight `[out, in, k, k]`.
    Conv,
    /// BatchNorm: running mean and variance (plus optional weight and bias).
    Norm,
    /// Linear layer, weight `[out, in]` (PyTorch's layout).
    Linear,
}

/// Tensors sharing a prefix (`features.0` for `features.0.weight` and `features.0.bias`).
#[derive(Debug, Clone)]
pub struct ForeignModule<'a> {
    /// The common prefix, e.g. `features.0`.
    pub prefix: String,
    /// What kind of layer its tensors' names and shapes say it is.
    pub role: Role,
    /// Its tensors by last name component (`weight`, `bias`, `running_mean`, …).
    pub tensors: BTreeMap<String, &'a ForeignTensor>,
}

impl ForeignModule<'_> {
    fn shape(&self, part: &str) -> Option<&[usize]> {
        self.tensors.get(part).map(|t| &t.shape[..])
    }

    /// The defining shape: weight, or running mean for a BatchNorm.
    pub fn main_shape(&self) -> &[usize] {
        match self.role {
            Role::Norm => self.shape("running_mean").unwrap_or(&[]),
            _ => self.shape("weight").unwrap_or(&[]),
        }
    }

    fn values(&self, part: &str) -> Option<&[f32]> {
        self.tensors.get(part).map(|t| &t.values[..])
    }
}

/// One of our layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Our name: `conv1`, `bn1`, `fc`, `fc1`, `out`.
    pub name: String,
    /// The role it needs.
    pub role: Role,
    /// The defining shape it needs (PyTorch layout).
    pub shape: Vec<usize>,
}

/// One line of the mapping the import prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// Our layer name (`conv1`, `bn1`, `fc`, `out`, …).
    pub ours: String,
    /// The checkpoint's module prefix.
    pub theirs: String,
    /// The shape that decided the match ([`ForeignModule::main_shape`]).
    pub shape: Vec<usize>,
    /// What was done beyond copying (a missing bias, a folded bias, a transpose).
    pub note: String,
}

/// Groups the checkpoint's tensors into modules and reads their roles. A tensor that belongs
/// to no known kind of module is refused, named with its shape.
pub fn modules(checkpoint: &Checkpoint) -> Result<Vec<ForeignModule<'_>>, ImportError> {
    let mut groups: BTreeMap<String, BTreeMap<String, &ForeignTensor>> = BTreeMap::new();
    for t in &checkpoint.tensors {
        let (prefix, part) = t.name.rsplit_once('.').unwrap_or(("", &t.name));
        groups
            .entry(prefix.to_string())
            .or_default()
            .insert(part.to_string(), t);
    }
    let mut out = Vec::new();
    for (prefix, tensors) in groups {
        let has = |p: &str| tensors.contains_key(p);
        let weight_rank = tensors.get("weight").map(|t| t.shape.len());
        let role = if has("running_mean") && has("running_var") {
            Role::Norm
        } else if weight_rank == Some(4) {
            Role::Conv
        } else if weight_rank == Some(2) {
            Role::Linear
        } else {
            let t = tensors.values().next().expect("a group has a tensor");
            return Err(ImportError::Mismatch(format!(
                "{} (shape {:?}) is not part of a convolution, BatchNorm or linear layer",
                t.name, t.shape
            )));
        };
        let known: &[&str] = match role {
            Role::Norm => &["weight", "bias", "running_mean", "running_var"],
            _ => &["weight", "bias"],
        };
        if let Some((part, t)) = tensors.iter().find(|(p, _)| !known.contains(&p.as_str())) {
            return Err(ImportError::Mismatch(format!(
                "{} (shape {:?}) has no place in a {role:?} layer ({part})",
                t.name, t.shape
            )));
        }
        out.push(ForeignModule {
            prefix,
            role,
            tensors,
        });
    }
    Ok(out)
}

/// Refuses a BatchNorm whose running variance is negative (no data gives one; the
/// normalization would take its square root), naming the tensor, the index and the value.
pub fn check_statistics(assigned: &[&ForeignModule]) -> Result<(), String> {
    for module in assigned.iter().filter(|m| m.role == Role::Norm) {
        let Some(var) = module.tensors.get("running_var") else {
            continue;
        };
        if let Some((i, v)) = var.values.iter().enumerate().find(|(_, v)| **v < 0.0) {
            return Err(format!(
                "tensor {} holds a negative running variance ({v}) at index {i}",
                var.name
            ));
        }
    }
    Ok(())
}

/// Our layers for `spec`, in order, with the shapes (PyTorch layout) they need.
pub fn slots(spec: &ModelSpec) -> Vec<Slot> {
    let arch = Architecture::of(spec);
    let k = arch.kernel;
    let mut slots = Vec::new();
    for (i, &[inputs, outputs]) in arch.convs.iter().enumerate() {
        slots.push(Slot {
            name: format!("conv{}", i + 1),
            role: Role::Conv,
            shape: vec![outputs, inputs, k, k],
        });
        if arch.batch_norm {
            slots.push(Slot {
                name: format!("bn{}", i + 1),
                role: Role::Norm,
                shape: vec![outputs],
            });
        }
    }
    let layers = arch.dense.len();
    for (i, &[inputs, outputs]) in arch.dense.iter().enumerate() {
        let name = match (i + 1 == layers, arch.convs.is_empty()) {
            (true, _) => "out".to_string(),
            (false, false) => "fc".to_string(),
            (false, true) => format!("fc{}", i + 1),
        };
        slots.push(Slot {
            name,
            role: Role::Linear,
            shape: vec![outputs, inputs],
        });
    }
    slots
}

/// `features.10` → (`features.`, 10) for ordering names the way people number layers.
fn natural_key(prefix: &str) -> (String, Vec<u64>) {
    let stem: String = prefix.chars().filter(|c| !c.is_ascii_digit()).collect();
    let numbers = prefix
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(u64::MAX))
        .collect();
    (stem, numbers)
}

/// Assigns a module to every slot: first those named in `maps` (`ours` → `theirs`), then the
/// rest in order by role and shape. Refuses a slot no module fits, a choice shapes cannot
/// settle, and modules left over, naming the key and the expected and found shapes.
pub fn assign<'a>(
    slots: &[Slot],
    modules: &'a [ForeignModule<'a>],
    maps: &[(String, String)],
) -> Result<Vec<&'a ForeignModule<'a>>, ImportError> {
    let mut taken = vec![false; modules.len()];
    let mut chosen: Vec<Option<usize>> = vec![None; slots.len()];
    for (ours, theirs) in maps {
        let s = slots.iter().position(|s| &s.name == ours).ok_or_else(|| {
            let names: Vec<&str> = slots.iter().map(|s| s.name.as_str()).collect();
            ImportError::Mismatch(format!(
                "--map {ours}={theirs}: no layer {ours} here (layers: {})",
                names.join(", ")
            ))
        })?;
        let m = modules.iter().position(|m| &m.prefix == theirs).ok_or_else(|| {
            let names: Vec<&str> = modules.iter().map(|m| m.prefix.as_str()).collect();
            ImportError::Mismatch(format!(
                "--map {ours}={theirs}: the checkpoint has no {theirs} (it has {})",
                names.join(", ")
            ))
        })?;
        let (slot, module) = (&slots[s], &modules[m]);
        if module.role != slot.role || module.main_shape() != slot.shape.as_slice() {
            return Err(ImportError::Mismatch(format!(
                "--map {ours}={theirs}: {ours} needs a {:?} of shape {:?}, {theirs} is a {:?} of shape {:?}",
                slot.role,
                slot.shape,
                module.role,
                module.main_shape()
            )));
        }
        if taken[m] {
            return Err(ImportError::Mismatch(format!(
                "--map: {theirs} is given to two layers"
            )));
        }
        taken[m] = true;
        chosen[s] = Some(m);
    }
    for (s, slot) in slots.iter().enumerate() {
        if chosen[s].is_some() {
            continue;
        }
        let mut fits: Vec<usize> = (0..modules.len())
            .filter(|&m| {
                !taken[m] && modules[m].role == slot.role && modules[m].main_shape() == slot.shape.as_slice()
            })
            .collect();
        if fits.is_empty() {
            let near: Vec<String> = (0..modules.len())
                .filter(|&m| !taken[m] && modules[m].role == slot.role)
                .map(|m| format!("{} {:?}", modules[m].prefix, modules[m].main_shape()))
                .collect();
            return Err(ImportError::Mismatch(format!(
                "nothing in the checkpoint fits {} (a {:?} of shape {:?}); unused {:?} layers: {}",
                slot.name,
                slot.role,
                slot.shape,
                slot.role,
                if near.is_empty() {
                    "none".into()
                } else {
                    near.join(", ")
                }
            )));
        }
        fits.sort_by_key(|&m| natural_key(&modules[m].prefix));
        let stems: Vec<String> = fits.iter().map(|&m| natural_key(&modules[m].prefix).0).collect();
        if fits.len() > 1 && stems.iter().any(|s| s != &stems[0]) {
            let names: Vec<&str> = fits.iter().map(|&m| modules[m].prefix.as_str()).collect();
            return Err(ImportError::Mismatch(format!(
                "{} (a {:?} of shape {:?}) could be any of {}; settle it with --map {}=NAME",
                slot.name,
                slot.role,
                slot.shape,
                names.join(", "),
                slot.name
            )));
        }
        taken[fits[0]] = true;
        chosen[s] = Some(fits[0]);
    }
    if let Some(m) = (0..modules.len()).find(|&m| !taken[m]) {
        return Err(ImportError::Mismatch(format!(
            "{} (a {:?} of shape {:?}) fits no layer of this architecture: the checkpoint is of another one",
            modules[m].prefix,
            modules[m].role,
            modules[m].main_shape()
        )));
    }
    Ok(chosen
        .into_iter()
        .map(|m| &modules[m.expect("every slot chosen")])
        .collect())
}

/// Our weights from the assigned modules (see [`PlainWeights`] for the order), with one
/// mapping line per layer. Linear weights are transposed from PyTorch's `[out, in]`; a
/// convolution's bias in front of BatchNorm moves into the running mean; missing biases and
/// BatchNorm affine parameters take their neutral values.
pub fn plain_weights(
    spec: &ModelSpec,
    slots: &[Slot],
    assigned: &[&ForeignModule],
) -> (PlainWeights, Vec<Mapped>) {
    let arch = Architecture::of(spec);
    let mut params = Vec::new();
    let mut running = Vec::new();
    let mut mapped = Vec::new();
    let mut line = |slot: &Slot, module: &ForeignModule, note: String| {
        mapped.push(Mapped {
            ours: slot.name.clone(),
            theirs: module.prefix.clone(),
            shape: module.main_shape().to_vec(),
            note,
        })
    };
    let mut pairs = slots.iter().zip(assigned.iter().copied());
    for _ in &arch.convs {
        let (slot, conv) = pairs.next().expect("a slot per conv");
        let outputs = slot.shape[0];
        params.push(conv.values("weight").expect("a conv has a weight").to_vec());
        let bias = conv.values("bias");
        if arch.batch_norm {
            let (norm_slot, norm) = pairs.next().expect("a slot per norm");
            let mut notes = Vec::new();
            let ones = vec![1.0; outputs];
            let zeros = vec![0.0; outputs];
            params.push(norm.values("weight").unwrap_or(&ones).to_vec());
            params.push(norm.values("bias").unwrap_or(&zeros).to_vec());
            if norm.values("weight").is_none() {
                notes.push("no affine parameters: gamma 1, beta 0".to_string());
            }
            let mut mean = norm.values("running_mean").expect("a norm").to_vec();
            if let Some(bias) = bias {
                mean.iter_mut().zip(bias).for_each(|(m, b)| *m -= b);
            }
            running.push(mean);
            running.push(norm.values("running_var").expect("a norm").to_vec());
            line(
                slot,
                conv,
                if bias.is_some() {
                    "bias folded into bn's running mean".into()
                } else {
                    String::new()
                },
            );
            line(norm_slot, norm, notes.join("; "));
        } else {
            params.push(bias.map_or_else(|| vec![0.0; outputs], <[f32]>::to_vec));
            line(
                slot,
                conv,
                if bias.is_none() {
                    "no bias: zeros".into()
                } else {
                    String::new()
                },
            );
        }
    }
    for (slot, linear) in pairs {
        let (outputs, inputs) = (slot.shape[0], slot.shape[1]);
        let weight = linear.values("weight").expect("a linear layer has a weight");
        let mut transposed = vec![0.0f32; weight.len()];
        for o in 0..outputs {
            for i in 0..inputs {
                transposed[i * outputs + o] = weight[o * inputs + i];
            }
        }
        params.push(transposed);
        let bias = linear.values("bias");
        params.push(bias.map_or_else(|| vec![0.0; outputs], <[f32]>::to_vec));
        let note = if bias.is_none() {
            "transposed; no bias: zeros"
        } else {
            "transposed"
        };
        line(slot, linear, note.into());
    }
    (PlainWeights { params, running }, mapped)
}

/// The architecture the checkpoint alone determines, when it determines one: convolutions
/// chained by their channels from one input channel, one kernel size, BatchNorm after all of
/// them or none, then two linear layers (dense, 10 outputs); or, without convolutions, linear
/// layers chained from 784 inputs to 10. Dropout cannot be read from weights: it is 0.
pub fn infer_spec(modules: &[ForeignModule]) -> Result<ModelSpec, ImportError> {
    let cannot =
        |why: String| ImportError::Mismatch(format!("cannot infer the architecture: {why}; give --arch"));
    let of = |role| modules.iter().filter(move |m| m.role == role);
    let convs: Vec<&ForeignModule> = of(Role::Conv).collect();
    let norms: Vec<&ForeignModule> = of(Role::Norm).collect();
    let linears: Vec<&ForeignModule> = of(Role::Linear).collect();
    // Follows `in → out` links from `start`: each step must have exactly one candidate. The
    // layers are indexed by input width once, so the walk is linear in their number.
    let chain = |layers: &[&ForeignModule], start: usize, what: &str| -> Result<Vec<usize>, ImportError> {
        let mut by_input: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, layer) in layers.iter().enumerate() {
            by_input.entry(layer.main_shape()[1]).or_default().push(i);
        }
        let mut widths = Vec::new();
        let mut current = start;
        for _ in 0..layers.len() {
            match by_input.remove(&current).as_deref() {
                Some([one]) => {
                    current = layers[*one].main_shape()[0];
                    widths.push(current);
                }
                None | Some([]) => return Err(cannot(format!("no {what} takes {current} inputs"))),
                Some(_) => return Err(cannot(format!("several {what}s take {current} inputs"))),
            }
        }
        Ok(widths)
    };
    let spec = if convs.is_empty() {
        let widths = chain(&linears, IMAGE_PIXELS, "linear layer")?;
        if widths.last() != Some(&NUM_CLASSES) {
            let last = widths.last().map_or_else(|| "no".to_string(), usize::to_string);
            return Err(cannot(format!("the linear layers end in {last} outputs, not 10")));
        }
        ModelSpec::Mlp {
            hidden: widths[..widths.len() - 1].to_vec(),
            dropout: 0.0,
        }
    } else {
        let channels = chain(&convs, 1, "convolution")?;
        let kernel = convs[0].main_shape()[2];
        if convs
            .iter()
            .any(|c| c.main_shape()[2] != kernel || c.main_shape()[3] != kernel)
        {
            return Err(cannot("the convolutions have different kernel sizes".into()));
        }
        let batch_norm = !norms.is_empty();
        let mut norm_channels: Vec<usize> = norms.iter().map(|n| n.main_shape()[0]).collect();
        let mut conv_channels = channels.clone();
        norm_channels.sort_unstable();
        conv_channels.sort_unstable();
        if batch_norm && norm_channels != conv_channels {
            return Err(cannot("BatchNorm follows some convolutions but not all".into()));
        }
        let side = channels.iter().fold(crate::data::IMAGE_SIDE, |s, _| s / 2);
        let flat = channels.last().copied().unwrap_or(1) * side * side;
        let widths = chain(&linears, flat, "linear layer")?;
        if widths.len() != 2 || widths[1] != NUM_CLASSES {
            return Err(cannot(format!(
                "after the convolutions the workbench's CNN has two linear layers ({flat} → dense → 10); found {}",
                linears.len()
            )));
        }
        ModelSpec::Cnn {
            channels,
            kernel_size: kernel,
            batch_norm,
            dropout: 0.0,
            dense: widths[0],
        }
    };
    spec.validate().map_err(cannot)?;
    Ok(spec)
}
