// For each grafana/dashboards/*.json, writes generated/<name>.ts that assigns the dashboard to
// Grafana's published Dashboard type, and each panel to its plugin's options type, so that
// `tsc --noEmit` validates the JSON against @grafana/schema. Unknown panel types fail here.
//
// Usage: node generate.mjs [dashboards-dir] [out-dir]   (defaults: ../dashboards, generated)
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dashboards = resolve(process.argv[2] ?? join(here, '..', 'dashboards'));
const out = resolve(process.argv[3] ?? join(here, 'generated'));
const typesModule = relative(out, join(here, 'types')).split('\\').join('/');
const cfg = (dir, name) => `@grafana/schema/dist/esm/raw/composable/${dir}/panelcfg/x/${name}PanelCfg_types.gen`;

// panel type -> [module alias, module path, typed-panel expression]
const PANELS = {
  timeseries: ['TimeSeries', cfg('timeseries', 'TimeSeries'), 'TypedPanel<TimeSeries.Options, TimeSeries.FieldConfig>'],
  stat: ['Stat', cfg('stat', 'Stat'), 'TypedPanel<Stat.Options>'],
  bargauge: ['BarGauge', cfg('bargauge', 'BarGauge'), 'TypedPanel<BarGauge.Options>'],
  gauge: ['Gauge', cfg('gauge', 'Gauge'), 'TypedPanel<Gauge.Options>'],
  table: ['Table', cfg('table', 'Table'), 'TypedPanel<Table.Options, Table.FieldConfig>'],
  text: ['Text', cfg('text', 'Text'), 'StaticPanel<Text.Options>'],
};

function panelsOf(dashboard) {
  const all = [];
  for (const panel of dashboard.panels ?? []) {
    if (panel.type === 'row') {
      all.push(...(panel.panels ?? []));
    } else {
      all.push(panel);
    }
  }
  return all;
}

function render(file) {
  const dashboard = JSON.parse(readFileSync(join(dashboards, file), 'utf8'));
  const lines = [
    `// Generated from ${file} by generate.mjs: do not edit.`,
    `import type { DashboardJson, StaticPanel, TypedPanel } from '${typesModule.startsWith('.') ? typesModule : `./${typesModule}`}';`,
  ];
  const used = new Set();
  const checks = [];
  for (const panel of panelsOf(dashboard)) {
    const known = PANELS[panel.type];
    if (!known) {
      throw new Error(`${file}: panel ${panel.id} "${panel.title}" has type "${panel.type}" with no schema mapping in generate.mjs`);
    }
    used.add(panel.type);
    checks.push(`export const panel${panel.id}: ${known[2]} = ${JSON.stringify(panel, null, 2)};`);
  }
  for (const type of [...used].sort()) {
    lines.push(`import type * as ${PANELS[type][0]} from '${PANELS[type][1]}';`);
  }
  lines.push('', `export const dashboard: DashboardJson = ${JSON.stringify(dashboard, null, 2)};`, '', ...checks, '');
  return lines.join('\n');
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const files = readdirSync(dashboards).filter((f) => f.endsWith('.json')).sort();
if (files.length === 0) {
  throw new Error(`no dashboards in ${dashboards}`);
}
for (const file of files) {
  writeFileSync(join(out, `${basename(file, '.json')}.ts`), render(file));
}
console.log(`generated ${files.length} checks in ${out}`);
