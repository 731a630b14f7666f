"""The DCO's Migration Group Encrypted File data validation (TMAD Tables 12.7, 13.9, 14.8, 16.7)."""
