{{ config(materialized='ephemeral') }}

-- Validity intervals of the valuation price from the MBEW snapshot. The first version seen is
-- stretched back to the beginning of time, so history loaded before the first snapshot run is
-- valued at the oldest known price rather than not at all.
with

versions as (
    select
        material_id,
        plant_id,
        unit_price,
        currency_code,
        cast(dbt_valid_from as timestamp) as valid_from,
        cast(dbt_valid_to as timestamp) as valid_to,
        row_number() over (
            partition by material_id, plant_id
            order by dbt_valid_from
        ) as version_number
    from {{ ref('snap_sap__mbew') }}
)

select
    material_id,
    plant_id,
    unit_price,
    currency_code,
    case when version_number = 1 then null else valid_from end as valid_from,
    valid_to
from versions
