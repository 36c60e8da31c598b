"""The bounce database and VERP tokens, as ``mailops bounces|suppression`` asks for them.

Runs on the host as the hook's user (``mailops-bounce``: it owns the database and
can read the VERP secret), with the same store code the hook writes with, so no
copy of the data and no secret ever leaves the host. ``params`` (JSON from the
command line): ``op`` and the paths ``db`` and ``secret``, plus the operation's own.
"""

from ._bounce import store, verp


def run(params: dict) -> dict:
    op = params.get("op")
    if op == "token":
        secret = verp.load_secret(params["secret"])
        if secret is None:
            return {"error": f"no readable VERP secret at {params['secret']}; run the deploy "
                             "(it makes one on the host)"}
        return {"result": verp.return_path(secret, params["address"], params["domain"])}
    conn = store.connect(params["db"])
    try:
        if op == "bounces":
            return {"result": store.list_bounces(conn, since=params.get("since"),
                                                 recipient=params.get("recipient"),
                                                 limit=params["limit"])}
        if op == "suppression-list":
            return {"result": store.list_suppressed(conn)}
        if op == "suppression-add":
            return {"result": store.add_suppression(conn, params["address"],
                                                    params.get("note") or "")}
        if op == "suppression-remove":
            return {"result": store.remove_suppression(conn, params["address"])}
        return {"error": f"unknown operation {op!r}"}
    finally:
        conn.close()
