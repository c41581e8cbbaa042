"""audio.settings: mixer, default devices and volumes of a workstation's sound server."""
