"""The offline provider: every step built from the code map alone, in English and French."""
