{#- post_hook: index columns of this model on Postgres; nothing on DuckDB.
    Idempotent by column list rather than by name: a table rebuild renames the old table to a
    backup that still holds the old index names, so "create index if not exists <name>" would
    skip and the new table would end up without the index. -#}
{% macro pg_index(columns) -%}
    {%- if target.type == 'postgres' -%}
        {%- set quoted_columns = [] -%}
        {%- for column in columns -%}
            {%- do quoted_columns.append("'" ~ column ~ "'") -%}
        {%- endfor -%}
        do $$
        begin
            if not exists (
                select 1
                from pg_index as i
                where i.indrelid = '{{ this.schema }}.{{ this.identifier }}'::regclass
                  and array(
                        select a.attname::text
                        from unnest(i.indkey) with ordinality as k(attnum, position)
                        join pg_attribute as a
                          on a.attrelid = i.indrelid and a.attnum = k.attnum
                        order by k.position
                      ) = array[{{ quoted_columns | join(', ') }}]::text[]
            ) then
                create index on {{ this }} ({{ columns | join(', ') }});
            end if;
        end $$
    {%- endif -%}
{%- endmacro %}
