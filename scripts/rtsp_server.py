#!/usr/bin/python3
"""A test RTSP server on loopback: serves an MP4 file (H.264, or H.265 with CODEC h265) at
rtsp://127.0.0.1:PORT/cam with GStreamer's gst-rtsp-server, from Debian (python3-gi,
gir1.2-gst-rtsp-server-1.0). Used by the engine's reconnect test, which kills and restarts it, and by
the decoders' golden tests. Usage: rtsp_server.py FILE PORT [h264|h265]"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

path, port = sys.argv[1], sys.argv[2]
codec = sys.argv[3] if len(sys.argv) > 3 else "h264"
if codec not in ("h264", "h265"):
    sys.exit(f"unknown codec {codec}: h264 or h265")
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( filesrc location="{path}" ! qtdemux ! {codec}parse config-interval=-1 ! rtp{codec}pay name=pay0 pt=96 )'
)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
