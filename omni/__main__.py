from omni.cli import main

raise SystemExit(main())
