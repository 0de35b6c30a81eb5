{{ config(post_hook="{{ pg_index(['material_id', 'plant_id']) }}") }}

-- Sources of supply: one row per info record x purchasing organisation x plant (EINA + EINE),
-- with the vendor's price, planned delivery time and order quantities.
with

general as (
    select * from {{ ref('stg_sap__eina') }}
),

purchasing as (
    select * from {{ ref('stg_sap__eine') }}
)

select
    purchasing.info_record_id,
    purchasing.purchasing_org_id,
    purchasing.plant_id,
    general.material_id,
    general.vendor_id,
    purchasing.net_price,
    purchasing.price_unit,
    cast(purchasing.net_price as {{ type_double() }})
        / nullif(purchasing.price_unit, 0) as unit_net_price,
    purchasing.currency_code,
    purchasing.planned_delivery_days,
    purchasing.min_order_qty,
    purchasing.standard_order_qty
from purchasing
inner join general
    on purchasing.info_record_id = general.info_record_id
