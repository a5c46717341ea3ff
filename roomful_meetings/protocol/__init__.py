"""Sans-IO wire protocol: envelope and payload Structs, and the frame codec. No I/O here."""
