-- Decimals per currency. SAP lists only currencies whose decimals are not two: a currency
-- missing here has two (see macro sap_amount).
with

source as (
    {{ latest_per_key(source('sap', 'tcurx'), ['currkey']) }}
),

renamed as (
    select
        currkey as currency_code,
        currdec as decimals
    from source
)

select * from renamed
