"""The Ingestion API's transport, behind ``psykhe_cli.client`` (its front and contract table).

``transport`` makes the ``httpx.Client``; ``exchange`` sends one request and reads its answer
(bounded, within its deadline, the key scrubbed); ``watchdog`` ends a request from another
thread; ``retry`` is the retry policy; ``envelope`` the API's envelope and refusal table;
``upload`` the attempts at one upload; ``chunked_memory`` the targets that refuse chunked
bodies; ``keycheck`` the key checked with one cheap request before a body goes.
"""
