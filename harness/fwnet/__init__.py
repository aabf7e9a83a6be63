"""fwnet: emulator-backed test and simulation framework for firmware networking."""
