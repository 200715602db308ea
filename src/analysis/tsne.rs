//! t-SNE in two dimensions (van der Maaten 2014): sparse input affinities over the
//! `3 × perplexity` nearest neighbours, Barnes-Hut repulsion on a quadtree, and
//! scikit-learn's optimiser (early exaggeration 12 for 250 iterations, momentum 0.5 then
//! 0.8, per-coordinate gains, learning rate `max(n / 12 / 4, 50)`, PCA initialisation
//! scaled to a standard deviation of 1e-4). Neighbour search and gradients run on rayon.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::jobs::Reporter;
use crate::study::StudyError;
use crate::rng::Rng;

/// Settings of [`tsne`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TsneConfig {
    /// Effective number of neighbours (seed S2 uses 30).
    pub perplexity: f32,
    /// Gradient steps.
    pub iterations: usize,
    /// Barnes-Hut accuracy: 0 is exact, 0.5 is the usual trade-off.
    pub theta: f32,
    /// Seed of the small jitter added to the PCA start.
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 1000,
            theta: 0.5,
            seed: 1,
        }
    }
}

const EXAGGERATION: f32 = 12.0;
const EXAGGERATION_ITERS: usize = 250;

/// Sparse symmetric affinities: for each point, `(neighbour, p_ij)`.
pub type Affinities = Vec<Vec<(u32, f32)>>;

/// The `k` nearest points of each point (squared Euclidean distance), nearest first.
pub fn nearest_neighbours(points: &[f32], dim: usize, k: usize) -> Vec<Vec<(u32, f32)>> {
    let n = points.len() / dim;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let a = &points[i * dim..(i + 1) * dim];
            let mut d: Vec<(u32, f32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let b = &points[j * dim..(j + 1) * dim];
                    (j as u32, a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum())
                })
                .collect();
            let k = k.min(d.len());
            if k < d.len() {
                d.select_nth_unstable_by(k, |x, y| x.1.total_cmp(&y.1));
                d.truncate(k);
            }
            d.sort_by(|x, y| x.1.total_cmp(&y.1));
            d
        })
        .collect()
}

/// Conditional probabilities `p_j|i` over the given neighbours, with the Gaussian's
/// precision found by bisection so their perplexity is `perplexity`.
pub fn conditional_probabilities(distances: &[f32], perplexity: f32) -> Vec<f32> {
    if distances.is_empty() {
        return Vec::new();
    }
    let target = perplexity.max(1.0).ln();
    let (mut lo, mut hi, mut beta) = (0.0f64, f64::INFINITY, 1.0f64);
    let d0 = distances[0] as f64;
    let mut p = vec![0.0f64; distances.len()];
    for _ in 0..200 {
        let mut sum = 0.0;
        for (pj, &d) in p.iter_mut().zip(distances) {
            *pj = (-(d as f64 - d0) * beta).exp();
            sum += *pj;
        }
        let mut h = 0.0;
        for pj in p.iter_mut() {
            *pj /= sum;
            if *pj > 1e-300 {
                h -= *pj * pj.ln();
            }
        }
        let diff = h - target as f64;
        if diff.abs() < 1e-5 {
            break;
        }
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_finite() {
                (beta + hi) / 2.0
            } else {
                beta * 2.0
            };
        } else {
            hi = beta;
            beta = (beta + lo) / 2.0;
        }
    }
    p.into_iter().map(|v| v as f32).collect()
}

/// Symmetric joint probabilities `p_ij = (p_j|i + p_i|j) / 2n` over the neighbour graph.
pub fn joint_probabilities(points: &[f32], dim: usize, perplexity: f32) -> Affinities {
    let n = points.len() / dim;
    let k = ((3.0 * perplexity) as usize).clamp(1, n.saturating_sub(1).max(1));
    let neighbours = nearest_neighbours(points, dim, k);
    let mut rows: Affinities = vec![Vec::new(); n];
    for (i, nb) in neighbours.iter().enumerate() {
        let d: Vec<f32> = nb.iter().map(|x| x.1).collect();
        let p = conditional_probabilities(&d, perplexity);
        for (&(j, _), pj) in nb.iter().zip(p) {
            let v = pj / (2.0 * n as f32);
            rows[i].push((j, v));
            rows[j as usize].push((i as u32, v));
        }
    }
    for row in &mut rows {
        row.sort_by_key(|x| x.0);
        row.dedup_by(|b, a| {
            if a.0 == b.0 {
                a.1 += b.1;
                true
            } else {
                false
            }
        });
    }
    rows
}

#[derive(Debug, Clone)]
struct Node {
    centre: [f32; 2],
    half: f32,
    mass: [f64; 2],
    count: u32,
    children: Option<u32>,
    point: Option<u32>,
}

/// A Barnes-Hut quadtree over 2-D points.
pub struct QuadTree {
    nodes: Vec<Node>,
}

impl QuadTree {
    /// Builds the tree over `y`.
    pub fn new(y: &[[f32; 2]]) -> Self {
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for p in y {
            for d in 0..2 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        let half = ((hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0).max(1e-6) * 1.0001;
        let root = Node {
            centre: [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0],
            half,
            mass: [0.0; 2],
            count: 0,
            children: None,
            point: None,
        };
        let mut tree = QuadTree { nodes: vec![root] };
        for (i, p) in y.iter().enumerate() {
            tree.insert(0, i as u32, *p, y, 0);
        }
        tree
    }

    fn quadrant(node: &Node, p: [f32; 2]) -> usize {
        usize::from(p[0] > node.centre[0]) + 2 * usize::from(p[1] > node.centre[1])
    }

    fn insert(&mut self, mut at: usize, i: u32, p: [f32; 2], y: &[[f32; 2]], mut depth: usize) {
        loop {
            let node = &mut self.nodes[at];
            node.mass[0] += p[0] as f64;
            node.mass[1] += p[1] as f64;
            node.count += 1;
            match node.children {
                Some(first) => {
                    at = first as usize + Self::quadrant(node, p);
                    depth += 1;
                }
                None if node.count == 1 => {
                    node.point = Some(i);
                    return;
                }
                // Points on top of each other stay together in one leaf.
                None if depth > 48 => return,
                None => {
                    let old = node.point.take().expect("a leaf with points holds one");
                    let (c, h) = (node.centre, node.half / 2.0);
                    let first = self.nodes.len() as u32;
                    for q in 0..4 {
                        let dx = if q % 2 == 1 { h } else { -h };
                        let dy = if q / 2 == 1 { h } else { -h };
                        self.nodes.push(Node {
                            centre: [c[0] + dx, c[1] + dy],
                            half: h,
                            mass: [0.0; 2],
                            count: 0,
                            children: None,
                            point: None,
                        });
                    }
                    self.nodes[at].children = Some(first);
                    let op = y[old as usize];
                    let child = first as usize + Self::quadrant(&self.nodes[at], op);
                    self.insert(child, old, op, y, depth + 1);
                    at = first as usize + Self::quadrant(&self.nodes[at], p);
                    depth += 1;
                }
            }
        }
    }

    /// Unnormalised repulsive force on point `i` at `p` and its share of the normaliser
    /// `Σ_j q_ij` (q = 1 / (1 + d²)).
    pub fn repulsion(&self, i: u32, p: [f32; 2], theta: f32) -> ([f64; 2], f64) {
        let mut force = [0.0f64; 2];
        let mut z = 0.0f64;
        let mut stack = vec![0usize];
        while let Some(at) = stack.pop() {
            let node = &self.nodes[at];
            if node.count == 0 {
                continue;
            }
            let own = u32::from(node.children.is_none() && node.point == Some(i));
            let count = (node.count - own) as f64;
            if count == 0.0 {
                continue;
            }
            let n = node.count as f64;
            let com = [node.mass[0] / n, node.mass[1] / n];
            let dx = p[0] as f64 - com[0];
            let dy = p[1] as f64 - com[1];
            let d2 = dx * dx + dy * dy;
            let size = 2.0 * node.half as f64;
            match node.children {
                Some(first) if size * size >= (theta as f64).powi(2) * d2 => {
                    stack.extend(first as usize..first as usize + 4);
                }
                _ => {
                    let q = 1.0 / (1.0 + d2);
                    z += count * q;
                    force[0] += count * q * q * dx;
                    force[1] += count * q * q * dy;
                }
            }
        }
        (force, z)
    }
}

/// The t-SNE gradient at `y` (exaggeration multiplies the attraction).
pub fn gradient(p: &Affinities, y: &[[f32; 2]], theta: f32, exaggeration: f32) -> Vec<[f32; 2]> {
    let tree = QuadTree::new(y);
    let rep: Vec<([f64; 2], f64)> = (0..y.len())
        .into_par_iter()
        .map(|i| tree.repulsion(i as u32, y[i], theta))
        .collect();
    let z: f64 = rep.iter().map(|r| r.1).sum::<f64>().max(1e-12);
    (0..y.len())
        .into_par_iter()
        .map(|i| {
            let mut attr = [0.0f64; 2];
            for &(j, pij) in &p[i] {
                let dx = (y[i][0] - y[j as usize][0]) as f64;
                let dy = (y[i][1] - y[j as usize][1]) as f64;
                let q = 1.0 / (1.0 + dx * dx + dy * dy);
                attr[0] += pij as f64 * q * dx;
                attr[1] += pij as f64 * q * dy;
            }
            let e = exaggeration as f64;
            [
                (4.0 * (e * attr[0] - rep[i].0[0] / z)) as f32,
                (4.0 * (e * attr[1] - rep[i].0[1] / z)) as f32,
            ]
        })
        .collect()
}

/// Embeds `points` (`n × dim`) in 2-D, starting from `start` (e.g. the PCA projection).
pub fn tsne(
    points: &[f32],
    dim: usize,
    start: &[[f32; 2]],
    config: &TsneConfig,
    reporter: &mut Reporter,
) -> Result<Vec<[f32; 2]>, StudyError> {
    let n = points.len() / dim.max(1);
    if n < 5 || start.len() != n {
        return Err(StudyError::Config("t-SNE needs at least 5 points".into()));
    }
    if !(2.0..=100.0).contains(&config.perplexity) || config.perplexity * 3.0 >= n as f32 {
        return Err(StudyError::Config(format!(
            "perplexity must be between 2 and 100 and below a third of the points ({n})"
        )));
    }
    reporter.progress("t-SNE: nearest neighbours", 0.0);
    let p = joint_probabilities(points, dim, config.perplexity);
    reporter.check()?;
    // PCA start scaled to std 1e-4 on the first axis, plus a seeded jitter far below it.
    let mean = [0, 1].map(|d| start.iter().map(|s| s[d]).sum::<f32>() / n as f32);
    let std0 = (start.iter().map(|s| (s[0] - mean[0]).powi(2)).sum::<f32>() / n as f32)
        .sqrt()
        .max(1e-12);
    let mut rng = Rng::new(config.seed);
    let mut y: Vec<[f32; 2]> = start
        .iter()
        .map(|s| [0, 1].map(|d| (s[d] - mean[d]) / std0 * 1e-4 + rng.normal() * 1e-6))
        .collect();
    let lr = (n as f32 / EXAGGERATION / 4.0).max(50.0);
    let mut update = vec![[0.0f32; 2]; n];
    let mut gains = vec![[1.0f32; 2]; n];
    for it in 0..config.iterations {
        let early = it < EXAGGERATION_ITERS;
        let momentum = if early { 0.5 } else { 0.8 };
        let g = gradient(&p, &y, config.theta, if early { EXAGGERATION } else { 1.0 });
        for i in 0..n {
            for d in 0..2 {
                let same_sign = (g[i][d] > 0.0) == (update[i][d] > 0.0);
                gains[i][d] = if same_sign {
                    (gains[i][d] * 0.8).max(0.01)
                } else {
                    gains[i][d] + 0.2
                };
                update[i][d] = momentum * update[i][d] - lr * gains[i][d] * g[i][d];
                y[i][d] += update[i][d];
            }
        }
        if it % 10 == 0 {
            reporter.check()?;
            reporter.progress(
                format!("t-SNE: iteration {it}/{}", config.iterations),
                0.05 + 0.95 * it as f64 / config.iterations as f64,
            );
        }
        if y.iter().any(|v| !v[0].is_finite() || !v[1].is_finite()) {
            return Err(StudyError::Diverged(
                "t-SNE diverged (non-finite positions)".into(),
            ));
        }
    }
    Ok(y)
}

/// Kullback-Leibler divergence of the exact output affinities from `p` (tests, small n).
pub fn kl_divergence(p: &Affinities, y: &[[f32; 2]]) -> f64 {
    let n = y.len();
    let q = |i: usize, j: usize| {
        let dx = (y[i][0] - y[j][0]) as f64;
        let dy = (y[i][1] - y[j][1]) as f64;
        1.0 / (1.0 + dx * dx + dy * dy)
    };
    let mut z = 0.0;
    for i in 0..n {
        for j in 0..n {
            if i != j {
                z += q(i, j);
            }
        }
    }
    let mut kl = 0.0;
    for (i, row) in p.iter().enumerate() {
        for &(j, pij) in row {
            if pij > 0.0 {
                kl += pij as f64 * (pij as f64 / (q(i, j as usize) / z)).ln();
            }
        }
    }
    kl
}
