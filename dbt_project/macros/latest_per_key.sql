{#- Keep the latest delivery of each key: raw may hold re-deliveries of the same SAP row.
    Ties on _loaded_at go to the later file and line. `newest_by` (a change date) decides
    before the load time, for tables whose changed rows arrive again in a later day's file: a
    backfill that reloads an older day must not bring its version back. Adds a helper column
    _row_rank (always 1).
    Filters on key columns reach the raw scan on both engines.
    Postgres uses DISTINCT ON: its row estimate is the number of keys, whereas a filter on
    row_number() is guessed at 0.5% of the rows, which made the planner nest loops over whole
    views (quadratic: 49 s for 34k order items joined to their headers, see
    benchmarks/warehouse/RESULTS.md). -#}
{% macro latest_per_key(relation, key_columns, newest_by=none) %}
    {%- set newest = (newest_by ~ ' desc, ') if newest_by else '' -%}
    {%- set latest = newest ~ '_loaded_at desc, _source_file desc, _source_line desc' -%}
    {%- set order_by = key_columns | join(', ') ~ ', ' ~ latest -%}
    {%- if target.type == 'postgres' %}
    select distinct on ({{ key_columns | join(', ') }})
        *,
        1 as _row_rank
    from {{ relation }}
    order by {{ order_by }}
    {%- else %}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ latest }}
            ) as _row_rank
        from {{ relation }}
    ) as ranked
    where _row_rank = 1
    {%- endif %}
{% endmacro %}
