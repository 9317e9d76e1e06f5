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
        # Printed as well: Airflow 3's log keeps an exception's text in a structured field
        # (error_detail) that the 3.1 client does not keep; a printed line is an event.
        print("report blocked: variable mon_block_report is 'yes'")
        raise RuntimeError("report blocked: variable mon_block_report is 'yes'")
    print("report sent")
    return "sent"
