"""Quality control the verifier and the assembler share: checks that measure items and media."""
