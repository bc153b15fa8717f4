/**
 * Penalty methods for bilevel optimization (docs/algorithms/bilevel.md): the Kwon et al. (ICLR 2024)
 * double-loop and single-loop penalty methods, V-PBGD (Shen & Chen, ICML 2023) and F2SA (Kwon et al., ICML 2023),
 * their shared building blocks, the test problems T1–T5 and data hyper-cleaning.
 */
export * from './projection';
export * from './problem';
export * from './sampling';
export * from './schedule';
export * from './oracles';
export * from './state';
export * from './penalty';
export * from './v-pbgd';
export * from './f2sa';
export * from './runner';
export * from './test-problems';
export * from './hyperparameter';
export * from './hyper-cleaning';
export * from './autodiff';
export * from './distributed';
