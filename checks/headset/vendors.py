"""Who makes call-center headsets: USB vendor ids and known Bluetooth dongles.

headset.presence and audio.settings use this table to tell a headset from
the other USB audio on a desk (webcam microphones, USB speakers). Ids are the
USB-IF vendor ids as in usb.ids / the udev hwdb (20-usb-vendor-model.hwdb);
a site adds its own brands with ``[headset] vendors = { "abcd" = "Name" }``.

``HEADSET_ONLY`` vendors make (almost) nothing but headsets and speakerphones,
so any USB audio device of theirs counts. The others (Logitech, Microsoft)
also make webcams, so theirs count only when they both play and record.
"""

from __future__ import annotations

VENDORS: dict[str, str] = {
    "0b0e": "Jabra (GN Netcom)",
    "047f": "Poly (Plantronics)",
    "1395": "EPOS / Sennheiser (DSEA)",
    "046d": "Logitech",
    "045e": "Microsoft",
    "6993": "Yealink",
}

HEADSET_ONLY = frozenset({"0b0e", "047f", "1395", "6993"})

# Headset makers' USB Bluetooth adapters: they show up as a USB sound card
# even when the headset itself is switched off or out of range, so their
# presence says nothing about the headset's radio link.
BLUETOOTH_DONGLES: dict[str, str] = {
    "0b0e:245e": "Jabra Link 370",
    "047f:02ee": "Poly BT600",
    "047f:4254": "Plantronics BUA-100",
    "1395:002d": "Sennheiser BTD 800",
}


def vendor_table(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The built-in vendors plus a site's own (lower-case 4-digit hex ids)."""
    table = dict(VENDORS)
    for vid, name in (extra or {}).items():
        table[str(vid).lower()] = str(name)
    return table
