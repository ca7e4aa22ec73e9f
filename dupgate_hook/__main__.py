from dupgate_hook.main import main

raise SystemExit(main())
