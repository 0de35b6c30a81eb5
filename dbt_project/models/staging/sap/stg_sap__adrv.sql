-- Which row owns an address. APPL_KEY is the owner's key with the client (MANDT, three
-- characters) in front: 100 + KUNNR for a customer (KNA1), 100 + WERKS for a plant (T001W).
with

source as (
    {{ latest_per_key(source('sap', 'adrv'), ['appl_table', 'appl_field', 'appl_key']) }}
),

renamed as (
    select
        addrnumber as address_id,
        appl_table as owner_table,
        appl_field as owner_field,
        substr(appl_key, 1, 3) as owner_client,
        substr(appl_key, 4) as owner_key
    from source
)

select * from renamed
