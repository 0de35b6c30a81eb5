"""Readers for the public VRP benchmark formats, producing :class:`RoutingProblem` objects.

Solomon VRPTW text files (customer 0 is the depot, Euclidean distances, travel time equals
distance) and CVRPLIB/TSPLIB ``.vrp`` files (``EUC_2D``, arcs rounded to the nearest
integer as the CVRPLIB best-known costs assume).
"""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.planning.routing import Depot, RoutingProblem, Stop, Vehicle


def read_solomon(path: str | Path, n_vehicles: int | None = None) -> RoutingProblem:
    """Read a Solomon instance; ``n_vehicles`` overrides the file's fleet size."""
    path = Path(path)
    lines = path.read_text().splitlines()
    name = lines[0].strip() if lines else path.stem
    fleet = capacity = None
    rows: list[tuple[int, list[float]]] = []
    for lineno, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if parts[0].upper() == "NUMBER" and lineno + 1 <= len(lines):
            nxt = lines[lineno].split()
            try:
                fleet, capacity = int(nxt[0]), float(nxt[1])
            except (IndexError, ValueError) as exc:
                raise ValueError(
                    f"{path}:{lineno + 1}: expected 'NUMBER CAPACITY' values, got {lines[lineno]!r}"
                ) from exc
        elif re.fullmatch(r"\d+", parts[0]) and capacity is not None and lineno > 5:
            if len(parts) != 7:
                raise ValueError(
                    f"{path}:{lineno}: expected 7 columns (CUST_NO X Y DEMAND READY DUE SERVICE),"
                    f" got {len(parts)}"
                )
            try:
                rows.append((lineno, [float(p) for p in parts]))
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: non-numeric value in {line!r}") from exc
    if capacity is None or fleet is None:
        raise ValueError(f"{path}: no VEHICLE 'NUMBER CAPACITY' section found")
    if not rows or int(rows[0][1][0]) != 0:
        raise ValueError(f"{path}: the first customer row must be the depot (customer 0)")
    _, (_, dx, dy, _, ready, due, _) = rows[0]
    depot = Depot(id="0", x=dx, y=dy, open=ready, close=due)
    stops = tuple(
        Stop(
            id=str(int(r[0])),
            x=r[1],
            y=r[2],
            demand=r[3],
            tw_start=r[4],
            tw_end=r[5],
            service_time=r[6],
        )
        for _, r in rows[1:]
    )
    n = fleet if n_vehicles is None else n_vehicles
    vehicles = tuple(
        Vehicle(id=f"v{k + 1}", depot_id="0", capacity=capacity, shift_minutes=due - ready)
        for k in range(n)
    )
    return RoutingProblem(
        depots=(depot,),
        vehicles=vehicles,
        stops=stops,
        distance="euclidean",
        speed_kmh=60.0,
        name=name,
    )


def read_cvrplib(path: str | Path, n_vehicles: int | None = None) -> RoutingProblem:
    """Read a CVRPLIB ``EUC_2D`` instance; fleet = ``n_vehicles`` or the ``-k<N>`` in the name."""
    path = Path(path)
    header: dict[str, str] = {}
    coords: dict[int, tuple[float, float]] = {}
    demand: dict[int, float] = {}
    depots: list[int] = []
    section = None
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        s = line.strip()
        if not s or s == "EOF":
            continue
        if s.endswith("SECTION"):
            section = s
            continue
        if section is None:
            key, _, value = s.partition(":")
            header[key.strip().upper()] = value.strip()
            continue
        parts = s.split()
        try:
            if section == "NODE_COORD_SECTION":
                coords[int(parts[0])] = (float(parts[1]), float(parts[2]))
            elif section == "DEMAND_SECTION":
                demand[int(parts[0])] = float(parts[1])
            elif section == "DEPOT_SECTION" and int(parts[0]) != -1:
                depots.append(int(parts[0]))
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{path}:{lineno}: cannot parse {section} row {s!r}") from exc
    if header.get("EDGE_WEIGHT_TYPE") != "EUC_2D":
        raise ValueError(f"{path}: only EDGE_WEIGHT_TYPE EUC_2D is supported")
    if "CAPACITY" not in header:
        raise ValueError(f"{path}: CAPACITY missing from the header")
    if len(depots) != 1:
        raise ValueError(f"{path}: exactly one depot expected, got {depots}")
    capacity = float(header["CAPACITY"])
    name = header.get("NAME", path.stem)
    if n_vehicles is None:
        m = re.search(r"-k(\d+)", name)
        if not m:
            raise ValueError(f"{path}: no '-k<N>' fleet size in NAME; pass n_vehicles")
        n_vehicles = int(m.group(1))
    dep = depots[0]
    depot = Depot(id=str(dep), x=coords[dep][0], y=coords[dep][1], open=0.0, close=1e6)
    stops = tuple(
        Stop(id=str(i), x=xy[0], y=xy[1], demand=demand.get(i, 0.0), tw_start=0.0, tw_end=1e6)
        for i, xy in sorted(coords.items())
        if i != dep
    )
    vehicles = tuple(
        Vehicle(id=f"v{k + 1}", depot_id=depot.id, capacity=capacity, shift_minutes=1e6)
        for k in range(n_vehicles)
    )
    return RoutingProblem(
        depots=(depot,),
        vehicles=vehicles,
        stops=stops,
        distance="euclidean",
        arc_decimals=0,
        name=name,
    )
