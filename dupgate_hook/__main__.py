from dupgate_hook.cli import main

raise SystemExit(main())
