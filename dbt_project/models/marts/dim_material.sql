{{ config(post_hook="{{ pg_index(['material_id']) }}") }}

with

materials as (
    select * from {{ ref('stg_sap__mara') }}
),

descriptions as (
    select
        material_id,
        material_description,
        row_number() over (
            partition by material_id
            order by
                case when language_code = '{{ var("description_language", "E") }}' then 0
                    else 1 end,
                language_code
        ) as preference
    from {{ ref('stg_sap__makt') }}
),

classification as (
    select * from {{ ref('int_material_classification') }}
)

select
    materials.material_id,
    descriptions.material_description,
    materials.material_type,
    materials.material_group,
    materials.base_unit,
    materials.gross_weight,
    materials.weight_unit,
    materials.created_on,
    materials.is_flagged_for_deletion,
    classification.abc_class,
    classification.xyz_class,
    classification.consumption_qty,
    classification.consumption_value,
    classification.demand_weeks,
    classification.mean_weekly_demand,
    classification.weekly_demand_cv
from materials
left join descriptions
    on materials.material_id = descriptions.material_id
    and descriptions.preference = 1
left join classification
    on materials.material_id = classification.material_id
