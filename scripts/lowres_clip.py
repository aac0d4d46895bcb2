#!/usr/bin/python3
"""Re-encode an H.264 MP4 at a lower size and frame rate with GStreamer from Debian (python3-gi,
gstreamer1.0-plugins-{good,bad,ugly}): the cluster test runs several cameras on a 2-core machine.
Usage: lowres_clip.py IN OUT WIDTH HEIGHT FPS"""
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

src, out, width, height, fps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
Gst.init(None)
pipeline = Gst.parse_launch(
    f'filesrc location="{src}" ! qtdemux ! h264parse ! openh264dec ! videoconvert ! videoscale '
    f"! videorate ! video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 "
    # Baseline profile, a key frame every second: what OpenH264 decodes and a camera sends.
    f"! x264enc speed-preset=veryfast bitrate=600 key-int-max={fps} bframes=0 "
    f'! video/x-h264,profile=baseline ! h264parse ! mp4mux ! filesink location="{out}"'
)
pipeline.set_state(Gst.State.PLAYING)
# Bounded: a stuck pipeline fails the caller instead of hanging it.
msg = pipeline.get_bus().timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
pipeline.set_state(Gst.State.NULL)
if msg is None:
    sys.exit("lowres_clip: not done within 120 s")
if msg.type == Gst.MessageType.ERROR:
    err, debug = msg.parse_error()
    sys.exit(f"lowres_clip: {err.message} ({debug})")
