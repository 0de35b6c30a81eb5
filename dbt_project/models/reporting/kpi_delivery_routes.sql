{{ config(post_hook="{{ pg_index(['forecast_origin', 'depot_id']) }}") }}

-- Delivery routes (planning.delivery_routes, one row per depot start, stop and depot end of a
-- vehicle's route) summed per vintage x depot x vehicle: stops, distance, peak load and the
-- time from leaving to returning to the depot. Empty while the table does not exist.
{%- set route_source = source('planning', 'delivery_routes') %}
{%- set route_table = existing_relation(route_source) %}
{%- set double = type_double() %}
{%- set text = dbt.type_string() %}

with

route_rows as (
    {{ typed_rows(route_table, [
        ['forecast_origin', 'date', ['forecast_origin']],
        ['depot_id', text, ['depot_id', 'plant_id']],
        ['vehicle_id', text, ['vehicle_id']],
        ['row_kind', text, ['kind']],
        ['stop_id', text, ['stop_id']],
        ['arrival', double, ['arrival']],
        ['departure', double, ['departure']],
        ['vehicle_load', double, ['load']],
        ['leg_distance', double, ['distance']],
    ]) }}
),

latest as (
    select max(forecast_origin) as forecast_origin from route_rows
),

routes as (
    select
        forecast_origin,
        depot_id,
        vehicle_id,
        cast(sum(case when row_kind = 'stop' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as stops,
        sum(leg_distance) as distance,
        max(vehicle_load) as peak_load,
        min(case when row_kind = 'start' then departure end) as depot_departure,
        max(case when row_kind = 'end' then arrival end) as depot_return
    from route_rows
    group by forecast_origin, depot_id, vehicle_id
)

select
    routes.*,
    routes.depot_return - routes.depot_departure as route_duration,
    routes.forecast_origin = latest.forecast_origin as is_latest_vintage
from routes
cross join latest
