"""The callables of mon_etl.toml (the official-client monitoring scripts' fixture)."""


def extract(params, ti):
    rows = [{"id": i, "value": i * 10} for i in range(1, int(params["rows"]) + 1)]
    ti.xcom_push(key="row_count", value=len(rows))
    print(f"extracted {len(rows)} rows")
    return {"rows": rows, "source": "mon"}


def load(data):
    total = sum(r["value"] for r in data["rows"])
    print(f"loaded {len(data['rows'])} rows, total {total}")
    return total


def report(block):
    if block == "yes":
        raise RuntimeError("report blocked: variable mon_block_report is 'yes'")
    print("report sent")
    return "sent"
