export {
  computeMos, computeEModel, mosFromR, effectiveEquipmentImpairment, codecImpairment, defaultRating, absoluteDelayImpairment,
  type MosParams, type EModelResult, type CodecImpairment,
} from './emodel.js';
export {
  buildQoeReport, type QoeReport, type QoeLeg, type QoeDirection, type QoePath,
} from './report.js';
