-- Material x plant combinations that should carry a demand series: every plant extension
-- (MARC) of a known plant (T001W) and of a material not flagged for deletion. Zero-filled
-- daily demand starts at the material's creation date.
with

plant_materials as (
    select * from {{ ref('stg_sap__marc') }}
),

materials as (
    select * from {{ ref('stg_sap__mara') }}
),

plants as (
    select * from {{ ref('stg_sap__t001w') }}
),

active as (
    select
        plant_materials.material_id,
        plant_materials.plant_id,
        materials.created_on as material_created_on
    from plant_materials
    inner join materials
        on plant_materials.material_id = materials.material_id
    inner join plants
        on plant_materials.plant_id = plants.plant_id
    where not materials.is_flagged_for_deletion
)

select * from active
