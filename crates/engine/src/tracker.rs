//! Tracking faces across frames by box overlap with a constant-velocity prediction, so a person
//! walking past is one track, embedded a few times at its best moments, not fifty separate faces.
//! Tracks hold positions and quality numbers, no pixels; with track fusion also the running
//! quality-weighted sum of their embedded views ([`Fused`]), in memory only and wiped when the track
//! ends, so a passer-by who matches nobody leaves nothing once out of view.

use std::collections::HashSet;

use mandat_face::{BBox, Detection};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Smallest overlap between a prediction and a detection that continues a track.
    pub min_iou: f32,
    /// Frames a track survives without a detection.
    pub max_missed: u64,
    /// Embeddings per track at most.
    pub max_embeds: u32,
    /// A new embedding needs this much better quality than the best so far.
    pub improve: f32,
    /// And at least this many frames since the last one.
    pub min_gap: u64,
    /// Below the cap, embed again after this many frames even without better quality, in case the
    /// first look was spoiled by motion blur or an occlusion the geometry does not show.
    pub refresh: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            min_iou: 0.3,
            max_missed: 12,
            max_embeds: 5,
            improve: 1.15,
            min_gap: 3,
            refresh: 25,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Track {
    pub id: u64,
    pub bbox: BBox,
    /// Box centre motion per frame.
    velocity: (f32, f32),
    pub last_seen: u64,
    pub embeds: u32,
    last_embed: u64,
    best_quality: f32,
    /// (permit, person) pairs this track has raised an alert for, so a person walking past raises
    /// one alert, not one per frame.
    pub alerted: HashSet<(String, String)>,
    /// The quality-weighted sum of the views embedded so far (track fusion only).
    fused: Option<Fused>,
}

/// A track's embedded views summed with their quality as weight: biometric data, so `Debug`
/// hides it and `Drop` wipes it.
#[derive(Clone)]
struct Fused {
    sum: Vec<f32>,
    views: u32,
}

impl std::fmt::Debug for Fused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fused({} views, redacted)", self.views)
    }
}

impl Drop for Fused {
    fn drop(&mut self) {
        mandat_face::vector::wipe_f32(&mut self.sum);
    }
}

impl Track {
    fn predicted(&self, frame: u64) -> BBox {
        let dt = frame.saturating_sub(self.last_seen) as f32;
        let (dx, dy) = (self.velocity.0 * dt, self.velocity.1 * dt);
        BBox {
            x1: self.bbox.x1 + dx,
            y1: self.bbox.y1 + dy,
            x2: self.bbox.x2 + dx,
            y2: self.bbox.y2 + dy,
        }
    }
}

/// What the tracker decided for one detection of the current frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    pub track: u64,
    /// Whether this detection should be embedded now. Only [`Tracker::embedded`] spends the
    /// track's budget, so a face the match-time gate turns away leaves the track open for a
    /// better view.
    pub embed: bool,
    /// Its [`pose_quality`].
    pub quality: f32,
}

/// A quality score from geometry alone: face size, discounted for a turned head and low confidence.
pub fn pose_quality(d: &Detection) -> f32 {
    let (ied, _roll, yaw, _pitch) = mandat_face::quality::pose(d);
    let frontal = (1.0 - 2.0 * yaw.abs()).clamp(0.1, 1.0);
    ied * frontal * d.score
}

#[derive(Debug, Default)]
pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn track_mut(&mut self, id: u64) -> Option<&mut Track> {
        self.tracks.iter_mut().find(|t| t.id == id)
    }

    /// How many tracks were ever started: passers-by, for the camera's day.
    pub fn started(&self) -> u64 {
        self.next_id - 1
    }

    /// Forget every track (the camera left scope, or the stream restarted).
    pub fn clear(&mut self) {
        self.tracks.clear();
    }

    /// Record that the face [`Tracker::update`] picked for `track` in `frame` was embedded: it
    /// counts against the track's cap and sets the quality a later view must beat.
    pub fn embedded(&mut self, track: u64, frame: u64, quality: f32) {
        if let Some(t) = self.track_mut(track) {
            t.embeds += 1;
            t.last_embed = frame;
            t.best_quality = t.best_quality.max(quality);
        }
    }

    /// Add an embedded view of `track` with its quality as weight, and return the track's fused
    /// template (the weighted mean, normalised) once it holds two views or more: a face seen
    /// several times is matched on what its views share, not only on its best single view.
    pub fn fuse(
        &mut self,
        track: u64,
        view: &[f32],
        quality: f32,
    ) -> Option<mandat_face::vector::Embedding> {
        let t = self.track_mut(track)?;
        let w = if quality.is_finite() && quality > 0.0 {
            quality
        } else {
            return None;
        };
        let f = t.fused.get_or_insert_with(|| Fused {
            sum: vec![0.0; view.len()],
            views: 0,
        });
        if f.sum.len() != view.len() {
            return None;
        }
        for (s, v) in f.sum.iter_mut().zip(view) {
            *s += w * v;
        }
        f.views += 1;
        (f.views >= 2).then(|| mandat_face::vector::Embedding::from_raw(&f.sum))
    }

    /// Assign this frame's detections to tracks (greedy by overlap with the prediction), start new
    /// tracks for the rest, end tracks unseen for too long, and choose which faces to embed.
    pub fn update(&mut self, frame: u64, dets: &[Detection]) -> Vec<Assignment> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            let p = t.predicted(frame);
            for (di, d) in dets.iter().enumerate() {
                let iou = p.iou(&d.bbox);
                if iou >= self.cfg.min_iou {
                    pairs.push((iou, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut det_track: Vec<Option<usize>> = vec![None; dets.len()];
        let mut used = vec![false; self.tracks.len()];
        for (_, ti, di) in pairs {
            if !used[ti] && det_track[di].is_none() {
                used[ti] = true;
                det_track[di] = Some(ti);
            }
        }
        let mut out = Vec::with_capacity(dets.len());
        for (di, d) in dets.iter().enumerate() {
            let q = pose_quality(d);
            let ti = match det_track[di] {
                Some(ti) => {
                    let t = &mut self.tracks[ti];
                    let dt = frame.saturating_sub(t.last_seen).max(1) as f32;
                    let (ox, oy) = t.bbox.center();
                    let (nx, ny) = d.bbox.center();
                    let v = ((nx - ox) / dt, (ny - oy) / dt);
                    // Smooth the velocity so one jittery box does not throw the prediction off.
                    t.velocity = (
                        0.5 * t.velocity.0 + 0.5 * v.0,
                        0.5 * t.velocity.1 + 0.5 * v.1,
                    );
                    t.bbox = d.bbox;
                    t.last_seen = frame;
                    ti
                }
                None => {
                    self.tracks.push(Track {
                        id: self.next_id,
                        bbox: d.bbox,
                        velocity: (0.0, 0.0),
                        last_seen: frame,
                        embeds: 0,
                        last_embed: 0,
                        best_quality: 0.0,
                        alerted: HashSet::new(),
                        fused: None,
                    });
                    self.next_id += 1;
                    self.tracks.len() - 1
                }
            };
            let t = &self.tracks[ti];
            let embed = t.embeds < self.cfg.max_embeds
                && (t.embeds == 0
                    || (q > t.best_quality * self.cfg.improve
                        && frame.saturating_sub(t.last_embed) >= self.cfg.min_gap)
                    || frame.saturating_sub(t.last_embed) >= self.cfg.refresh);
            out.push(Assignment {
                track: t.id,
                embed,
                quality: q,
            });
        }
        let max_missed = self.cfg.max_missed;
        self.tracks
            .retain(|t| frame.saturating_sub(t.last_seen) <= max_missed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, size: f32) -> Detection {
        let e = size * 0.3;
        let (cx, cy) = (x + size / 2.0, y + size / 2.0);
        Detection {
            bbox: BBox {
                x1: x,
                y1: y,
                x2: x + size,
                y2: y + size,
            },
            score: 0.9,
            landmarks: [
                [cx - e, cy - e],
                [cx + e, cy - e],
                [cx, cy],
                [cx - e * 0.8, cy + e],
                [cx + e * 0.8, cy + e],
            ],
        }
    }

    #[test]
    fn a_walking_face_is_one_track() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut ids = HashSet::new();
        let mut embeds = 0;
        for f in 0..50u64 {
            let a = t.update(f, &[det(100.0 + 6.0 * f as f32, 200.0, 80.0 + f as f32)]);
            ids.insert(a[0].track);
            if a[0].embed {
                t.embedded(a[0].track, f, a[0].quality);
                embeds += 1;
            }
        }
        assert_eq!(ids.len(), 1);
        assert!((2..=5).contains(&embeds), "{embeds} embeddings");
    }

    #[test]
    fn two_faces_two_tracks_and_tracks_end() {
        let mut t = Tracker::new(TrackerConfig::default());
        let a = t.update(0, &[det(0.0, 0.0, 50.0), det(300.0, 0.0, 50.0)]);
        assert_ne!(a[0].track, a[1].track);
        assert!(a.iter().all(|x| x.embed), "new tracks are embedded at once");
        let b = t.update(1, &[det(302.0, 0.0, 50.0), det(2.0, 0.0, 50.0)]);
        assert_eq!((b[0].track, b[1].track), (a[1].track, a[0].track));
        t.update(20, &[]);
        assert!(t.tracks().is_empty(), "unseen tracks end");
        let c = t.update(21, &[det(0.0, 0.0, 50.0)]);
        assert!(c[0].track > a[1].track, "a returning face is a new track");
    }

    #[test]
    fn better_frames_are_embedded_up_to_the_cap() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut n = 0;
        for f in 0..200u64 {
            // The face grows fast: every few frames it is much better than before.
            let a = t.update(f, &[det(100.0, 100.0, 20.0 + 3.0 * f as f32)]);
            if a[0].embed {
                t.embedded(a[0].track, f, a[0].quality);
                n += 1;
            }
        }
        assert_eq!(n, 5);
    }

    #[test]
    fn a_fused_template_is_the_quality_weighted_mean_of_the_views() {
        let mut t = Tracker::new(TrackerConfig::default());
        let id = t.update(0, &[det(0.0, 0.0, 50.0)])[0].track;
        let unit = |i: usize| {
            let mut v = vec![0.0f32; 128];
            v[i] = 1.0;
            v
        };
        // One view is no fusion yet; the second gives the mean weighted 3:1.
        assert!(t.fuse(id, &unit(0), 3.0).is_none());
        let f = t.fuse(id, &unit(1), 1.0).unwrap();
        let (a, b) = (f.as_slice()[0], f.as_slice()[1]);
        assert!(
            (a - 0.9487).abs() < 1e-3 && (b - 0.3162).abs() < 1e-3,
            "{a} {b}"
        );
        // A view of no quality adds nothing; an unknown track gives nothing.
        assert!(t.fuse(id, &unit(2), 0.0).is_none());
        assert!(t.fuse(id, &unit(2), f32::NAN).is_none());
        assert!(t.fuse(id + 1, &unit(2), 1.0).is_none());
        // The sum is hidden from Debug, and goes with the track.
        assert!(format!("{:?}", t.tracks()[0]).contains("redacted"));
        t.clear();
        assert!(t.fuse(id, &unit(0), 1.0).is_none());
    }

    #[test]
    fn views_turned_away_by_the_gate_leave_the_track_open() {
        // A face walking towards the camera, eyes 8 px apart and growing; views under 20 px are
        // turned away by the match-time gate, so they must not spend the track's five embeddings.
        let mut t = Tracker::new(TrackerConfig::default());
        let mut embedded = Vec::new();
        for f in 0..100u64 {
            let size = 13.0 + f as f32 * 2.0; // eyes 0.6 * size apart
            let a = t.update(f, &[det(100.0, 100.0, size)]);
            let ied = 0.6 * size;
            if a[0].embed && ied >= 20.0 {
                t.embedded(a[0].track, f, a[0].quality);
                embedded.push(ied);
            }
        }
        assert!(!embedded.is_empty(), "the track was never embedded");
        assert!(
            embedded[0] < 22.0,
            "embedded once it was large enough: {embedded:?}"
        );
        assert_eq!(embedded.len(), 5, "{embedded:?}");
        // Asked again every frame while turned away: the gate sees each view until one passes.
        let mut u = Tracker::new(TrackerConfig::default());
        let asked = (0..5u64)
            .filter(|&f| u.update(f, &[det(100.0, 100.0, 10.0)])[0].embed)
            .count();
        assert_eq!(asked, 5);
    }
}
