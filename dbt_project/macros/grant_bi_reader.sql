{#- on-run-end: BI tools log in as bi_reader and may read marts and reporting, nothing else.
    LOGIN without a password: the server's authentication rules decide how it connects.
    Idempotent and safe when two dbt runs finish at once (advisory lock). No-op on DuckDB. -#}
{% macro grant_bi_reader() -%}
    {%- if target.type == 'postgres' -%}
        do $$
        declare
            schema_name text;
        begin
            perform pg_advisory_xact_lock(hashtext('sap_planning.grant_bi_reader'));
            if not exists (select 1 from pg_catalog.pg_roles where rolname = 'bi_reader') then
                -- Roles are cluster-wide but the lock is per database: a run in another
                -- database may create the role first.
                begin
                    create role bi_reader login;
                exception when duplicate_object then
                    null;
                end;
            end if;
            if not (select rolcanlogin from pg_catalog.pg_roles where rolname = 'bi_reader') then
                alter role bi_reader login;
            end if;
            foreach schema_name in array array['marts', 'reporting'] loop
                execute format('create schema if not exists %I', schema_name);
                execute format('grant usage on schema %I to bi_reader', schema_name);
                execute format('grant select on all tables in schema %I to bi_reader', schema_name);
                execute format(
                    'alter default privileges in schema %I grant select on tables to bi_reader',
                    schema_name);
            end loop;
            for schema_name in
                select nspname from pg_catalog.pg_namespace
                where nspname in ('raw', 'quarantine', 'staging', 'intermediate', 'snapshots',
                                  'planning')
            loop
                execute format('revoke all on all tables in schema %I from bi_reader', schema_name);
                execute format('revoke all on schema %I from bi_reader', schema_name);
            end loop;
        end $$
    {%- endif -%}
{%- endmacro %}
