import sys

from personastream_bench.nab.runner import main

sys.exit(main())
