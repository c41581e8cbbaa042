"""bluetooth.interference: Bluetooth headsets that lose signal or crowd the 2.4 GHz air."""
