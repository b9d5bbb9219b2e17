"""Mail in: IMAP and IDLE, parsing, file names, containers, automatic mail."""
