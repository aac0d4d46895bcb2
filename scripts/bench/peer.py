#!/usr/bin/env python3
"""The peer mandat is measured against: OpenCV's own YuNet + SFace pipeline, as a user who does
not pick mandat would run it (issue 7). Every frame: cv2.VideoCapture reads it, FaceDetectorYN
detects at the frame's full resolution (score threshold 0.5), FaceRecognizerSF.alignCrop and
.feature embed every face. With --watchlist, every face is also matched against the enrolment
photos (cosine above --threshold) and the recall of watchlist appearances is counted against the
ground truth, as mandat's bench counts its own.

Prints one JSON object. Same models as mandat (the verified files in mandat's model cache), same
core budget (--threads, and the caller pins the process to the same CPUs).

Usage: peer.py VIDEO --yunet ONNX --sface ONNX [--threads 1] [--watchlist DIR --truth JSON]
"""

import argparse
import json
import os
import sys
import time

import cv2
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--yunet", required=True)
    ap.add_argument("--sface", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--score-threshold", type=float, default=0.5)
    ap.add_argument("--threshold", type=float, default=0.363)
    ap.add_argument("--watchlist", help="directory of <Name>.jpg enrolment photos")
    ap.add_argument("--truth", help="ground_truth.json of the synthetic video")
    ap.add_argument("--max-frames", type=int, default=0)
    a = ap.parse_args()

    for f in (a.video, a.yunet, a.sface):
        if not os.path.isfile(f):
            sys.exit(f"peer: {f} not found")
    cv2.setNumThreads(a.threads)
    det = cv2.FaceDetectorYN.create(a.yunet, "", (320, 320), a.score_threshold, 0.3, 5000)
    rec = cv2.FaceRecognizerSF.create(a.sface, "")

    def faces_of(img):
        h, w = img.shape[:2]
        det.setInputSize((w, h))
        _, faces = det.detect(img)
        return [] if faces is None else list(faces)

    def embed(img, face):
        f = rec.feature(rec.alignCrop(img, face)).flatten()
        return f / max(np.linalg.norm(f), 1e-12)

    names, templates = [], None
    if a.watchlist:
        rows = []
        for fn in sorted(os.listdir(a.watchlist)):
            img = cv2.imread(os.path.join(a.watchlist, fn))
            fs = faces_of(img)
            if not fs:
                sys.exit(f"peer: no face in the enrolment photo {fn}")
            # The face nearest the centre, as mandat's enrolment takes it.
            h, w = img.shape[:2]
            f = min(fs, key=lambda r: (r[0] + r[2] / 2 - w / 2) ** 2 + (r[1] + r[3] / 2 - h / 2) ** 2)
            names.append(os.path.splitext(fn)[0])
            rows.append(embed(img, f))
        templates = np.stack(rows)

    cap = cv2.VideoCapture(a.video)
    if not cap.isOpened():
        sys.exit(f"peer: cannot open {a.video}")
    frames = faces = 0
    hits = []  # (identity, frame)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        for f in faces_of(frame):
            e = embed(frame, f)
            faces += 1
            if templates is not None:
                s = templates @ e
                i = int(np.argmax(s))
                if s[i] > a.threshold:
                    hits.append((names[i], frames))
        frames += 1
        if a.max_frames and frames >= a.max_frames:
            break
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    out = {
        "peer": "opencv " + cv2.__version__ + " YuNet + SFace",
        "video": os.path.basename(a.video),
        "threads": a.threads,
        "frames": frames,
        "faces_embedded": faces,
        "seconds": wall,
        "frames_per_s": frames / wall if wall else 0.0,
        "faces_per_s": faces / wall if wall else 0.0,
        "cpu_ms_per_frame": 1000.0 * cpu / max(frames, 1),
    }
    if a.truth and templates is not None:
        truth = json.load(open(a.truth))
        listed = [x for x in truth["appearances"] if x["on_watchlist"]]
        found = [
            x for x in listed
            if any(n == x["identity"] and x["first_frame"] <= fr <= x["last_frame"] for n, fr in hits)
        ]
        false_hits = [
            (n, fr) for n, fr in hits
            if not any(n == x["identity"] and x["first_frame"] <= fr <= x["last_frame"] for x in listed)
        ]
        out["watchlist_appearances"] = len(listed)
        out["appearances_found"] = len(found)
        out["recall"] = len(found) / max(len(listed), 1)
        out["false_hit_frames"] = len(false_hits)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
