-- Units of measure per material: UMREN of the unit equal UMREZ of the base unit (MARA.MEINS).
with

source as (
    {{ latest_per_key(source('sap', 'marm'), ['matnr', 'meinh']) }}
),

renamed as (
    select
        matnr as material_id,
        meinh as unit,
        umrez as numerator,
        umren as denominator,
        cast(umrez as {{ type_double() }}) / nullif(umren, 0) as base_qty_per_unit
    from source
)

select * from renamed
