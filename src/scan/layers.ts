/**
 * Image layers → inventory. Each layer is read once into a LayerInventory
 * (plain JSON, kept by layer digest: a base layer shared by many images is
 * read once), and an image's inventory is the merge of its layers'.
 */
import type { Detector } from './detect/detector.js';
import type { Inventory } from './inventory.js';
import { inventoryLayer } from './layers/inventory-layer.js';
import type { LayerInventory, LayerSource } from './layers/layer-inventory.js';
import { mergeLayerInventories } from './layers/merge.js';

export { inventoryLayer, normaliseLayerPath } from './layers/inventory-layer.js';
export { mergeLayerInventories } from './layers/merge.js';
export { LAYER_INVENTORY_FORMAT } from './layers/layer-inventory.js';
export type { FileFinding, LayerFileInventory, LayerInventory, LayerSource } from './layers/layer-inventory.js';

/** Inventories each layer in turn (bottom → top), then merges them: for callers that do not cache layers. */
export async function inventoryImage(layers: readonly LayerSource[], detectors: readonly Detector[]): Promise<Inventory> {
  const inventories: LayerInventory[] = [];
  for (const layer of layers) inventories.push(await inventoryLayer(layer, detectors));
  return mergeLayerInventories(inventories);
}
