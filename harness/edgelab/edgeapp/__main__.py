"""`python3 -m edgeapp`: run the store service named by $SERVICE_NAME."""

from .app import main

raise SystemExit(main())
