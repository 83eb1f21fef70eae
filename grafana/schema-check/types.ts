/**
 * Types the generated checks use: Grafana's published dashboard schema (@grafana/schema) as
 * JSON can satisfy it, and panels typed with their plugin's own options and field config.
 */
import type { DataQuery, DataSourceRef, Dashboard, FieldConfig, FieldConfigSource, Panel } from '@grafana/schema';

/**
 * JSON holds strings where the schema has string enums (e.g. ThresholdsMode.Absolute is
 * "absolute"): map every enum to the union of its values, recursively, and keep everything
 * else (required fields, excess-property checks) as the schema says.
 */
export type Loose<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends ReadonlyArray<infer U>
      ? Array<Loose<U>>
      : T extends object
        ? { [K in keyof T]: Loose<T[K]> }
        : T;

/** A whole dashboard as Grafana stores it (schemaVersion 39+ "classic" JSON model). */
export type DashboardJson = Loose<Dashboard>;

/**
 * A query of Grafana's Prometheus data source. @grafana/schema does not publish it: these are
 * the fields of the Prometheus dataquery (public/app/plugins/datasource/prometheus) that
 * dashboards use, on top of the published DataQuery (refId, datasource, hide, queryType).
 */
export interface PrometheusQuery extends DataQuery {
  datasource?: DataSourceRef;
  expr: string;
  editorMode?: 'code' | 'builder';
  format?: 'time_series' | 'table' | 'heatmap';
  instant?: boolean;
  range?: boolean;
  exemplar?: boolean;
  interval?: string;
  intervalFactor?: number;
  legendFormat?: string;
}

type TypedFieldConfig<TCustom> = Omit<FieldConfigSource, 'defaults'> & {
  defaults: Omit<FieldConfig, 'custom'> & ([TCustom] extends [never] ? { custom?: Record<string, never> } : { custom: TCustom });
};

/** A panel whose `options` and `fieldConfig.defaults.custom` follow its plugin's schema. */
export type TypedPanel<TOptions, TCustom = never> = Loose<
  Omit<Panel, 'options' | 'fieldConfig' | 'targets' | 'datasource'> & {
    datasource: DataSourceRef;
    options: TOptions;
    fieldConfig: TypedFieldConfig<TCustom>;
    targets: PrometheusQuery[];
  }
>;

/** A panel that queries nothing (text). */
export type StaticPanel<TOptions> = Loose<Omit<Panel, 'options' | 'targets'> & { options: TOptions }>;
