{{ config(post_hook="{{ pg_index(['material_id', 'plant_id']) }}") }}

-- Current planning parameters per material x plant: MRP settings (MARC) and valuation price
-- (MBEW). History of both is in the snapshots.
with

plant_materials as (
    select * from {{ ref('stg_sap__marc') }}
),

valuation as (
    select * from {{ ref('stg_sap__mbew') }}
)

select
    plant_materials.material_id,
    plant_materials.plant_id,
    plant_materials.mrp_type,
    plant_materials.planned_delivery_days,
    plant_materials.safety_stock_qty,
    plant_materials.lot_size_procedure,
    plant_materials.min_lot_size_qty,
    plant_materials.rounding_qty,
    plant_materials.plant_material_status,
    valuation.price_control,
    valuation.unit_price,
    valuation.currency_code
from plant_materials
left join valuation
    on plant_materials.material_id = valuation.material_id
    and plant_materials.plant_id = valuation.plant_id
