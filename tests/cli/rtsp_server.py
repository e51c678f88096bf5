#!/usr/bin/env python3
"""A loopback RTSP server for the live tests: serves an H.264 MPEG-TS clip, in real time, at
rtsp://127.0.0.1:PORT/clip with GStreamer's RTSP server (Debian: gir1.2-gst-rtsp-server-1.0,
python3-gi, gstreamer1.0-plugins-good and -bad; scripts/install-deps installs them). Each client gets
the clip from its start; the stream ends with the clip. Prints "ready" once it listens.
Usage: rtsp_server.py PORT CLIP.ts. Exits 3 when GStreamer's RTSP server or its elements are missing."""
import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as e:
    print(f"no GStreamer RTSP server here: {e}", file=sys.stderr)
    sys.exit(3)


def main() -> int:
    port, clip = sys.argv[1], sys.argv[2]
    Gst.init(None)
    for element in ("filesrc", "tsdemux", "h264parse", "rtph264pay"):
        if Gst.ElementFactory.find(element) is None:
            print(f"no GStreamer element '{element}' here", file=sys.stderr)
            return 3
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{clip}" ! tsdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )')
    server.get_mount_points().add_factory("/clip", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
