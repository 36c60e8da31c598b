"""`mailops check`: posture (runs it all), records, signing, tls, reputation, report."""
