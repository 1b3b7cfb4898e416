#!/usr/bin/env python3
"""Run every end-to-end test (tests/e2e/test_*.py) and print one closing line:
`e2e: N passed, N failed`. Exit status 1 if anything failed or nothing ran."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
suite = unittest.defaultTestLoader.discover(here, pattern=pattern)
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
passed = result.testsRun - failed - len(result.skipped)
line = f"e2e: {passed} passed, {failed} failed"
if result.skipped:
    line += f", {len(result.skipped)} skipped"
print(line)
sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
