{{ config(post_hook="{{ pg_index(['date_day']) }}") }}

-- One row per calendar day between vars dim_date_start and dim_date_end. Weeks start on Monday
-- (ISO), on both engines.
with

digits as (
    select 0 as digit union all select 1 union all select 2 union all select 3
    union all select 4 union all select 5 union all select 6 union all select 7
    union all select 8 union all select 9
),

day_numbers as (
    select
        ones.digit
        + 10 * tens.digit
        + 100 * hundreds.digit
        + 1000 * thousands.digit
        + 10000 * ten_thousands.digit as day_number
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
    cross join digits as ten_thousands
),

bounds as (
    select
        cast('{{ var("dim_date_start") }}' as date) as start_date,
        cast('{{ var("dim_date_end") }}' as date) as end_date
),

days as (
    select cast({{ dbt.dateadd('day', 'day_numbers.day_number', 'bounds.start_date') }} as date)
        as date_day
    from day_numbers
    cross join bounds
    where day_numbers.day_number
        <= {{ dbt.datediff('bounds.start_date', 'bounds.end_date', 'day') }}
)

select
    date_day,
    cast(extract(year from date_day) as {{ dbt.type_int() }}) as year_number,
    cast(extract(quarter from date_day) as {{ dbt.type_int() }}) as quarter_number,
    cast(extract(month from date_day) as {{ dbt.type_int() }}) as month_number,
    cast(extract(day from date_day) as {{ dbt.type_int() }}) as day_of_month,
    cast(extract(isodow from date_day) as {{ dbt.type_int() }}) as iso_day_of_week,
    cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start,
    cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
    cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start,
    cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start,
    extract(isodow from date_day) >= 6 as is_weekend
from days
