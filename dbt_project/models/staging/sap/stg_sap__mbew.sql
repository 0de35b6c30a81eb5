-- Prices are shifted to their currency's decimals (TCURX).
with

source as (
    {{ latest_per_key(source('sap', 'mbew'), ['matnr', 'bwkey']) }}
),

shifted as (
    select
        source.matnr,
        source.bwkey,
        source.vprsv,
        {{ sap_amount('source.verpr', 'currency') }} as verpr,
        {{ sap_amount('source.stprs', 'currency') }} as stprs,
        source.peinh,
        source.waers
    from source
    {{ currency_decimals_join('source.waers', 'currency') }}
),

renamed as (
    select
        matnr as material_id,
        bwkey as plant_id,
        vprsv as price_control,
        verpr as moving_average_price,
        stprs as standard_price,
        peinh as price_unit,
        waers as currency_code,
        -- SAP values stock at the standard price (S) or the moving average price (V),
        -- both per price unit.
        cast(
            case when vprsv = 'S' then stprs else verpr end
            as {{ type_double() }}
        ) / nullif(peinh, 0) as unit_price
    from shifted
)

select * from renamed
