"""The local emulator of the PSYKHE Ingestion API (``psykhe sandbox``).

Nothing here is imported by the client: the server modules need the ``sandbox`` extra
(starlette + uvicorn) and are imported lazily by ``psykhe_cli.commands.sandbox``.

    settings   SandboxSettings: the options of one sandbox, keys and their clients
    faults     the fault-injection rules (JSON schema, parsing, the per-request plan)
    body       the streamed request body: gzip, counting, SHA-1, spool file
    store      SQLite state: ingestions and the per-client catalog; processing
    worker     the background task moving ingestions 2 → 3 → 4/5
    requestlog the request log behind ``GET /_sandbox/ingestions`` (key redacted)
    envelope   the ``{errors, meta, data}`` bodies, and the HTML page a proxy would send
    api        the two vendor endpoints, with the faults applied
    app        Sandbox (the state of one sandbox) and its starlette app, ``/_sandbox`` routes
    connections  open connections by peer, so a fault can reset one (TCP RST)
    server     running it with uvicorn: foreground, or in a thread (tests, ``exec``)
    runner     ``psykhe sandbox exec``: run a command against a throwaway sandbox
    inspect    SandboxHandle: a small client for the ``/_sandbox`` routes (tests, scripts)
"""
