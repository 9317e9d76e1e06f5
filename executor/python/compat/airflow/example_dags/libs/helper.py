"""``print_stuff`` of Airflow's example DAGs."""


def print_stuff():
    print("annotated!")
