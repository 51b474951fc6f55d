// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title LeverageGuard: leverage insurance with an exactly-once payout pool.
/// @notice Flow: the position system reports a liquidation with `liquidate` (event
/// `PositionLiquidated`); perpflow's chain watcher follows that event, computes a tiered amount
/// off-chain and the owner's hot wallet calls `executePayout` once per liquidation.
/// @dev Who may call what, kept deliberately small:
///  * owner (immutable, the deployer; perpflow's hot wallet): whitelist users, authorise
///    reporters, execute payouts. No ownership transfer: rotating the hot wallet means
///    deploying a new guard and moving the pool.
///  * reporters (set by the owner) and the owner: report liquidations of whitelisted users.
///  * anyone: fund the pool by sending ETH (`receive`).
/// The liquidation id is computed off-chain as keccak256(abi.encodePacked(txHash, logIndex)) of
/// the PositionLiquidated log, so `paid[id]` is the last guard against a double payout even if
/// every off-chain safeguard failed.
contract LeverageGuard {
    address public immutable owner;

    mapping(address => bool) private _whitelisted;
    mapping(address => bool) public isReporter;
    /// @notice liquidationId => already paid. Public getter: `paid(bytes32)`.
    mapping(bytes32 => bool) public paid;

    event PositionLiquidated(address indexed user, uint256 leverageRatio, uint256 liquidationAmount);
    event PayoutExecuted(address indexed user, uint256 amount, bytes32 indexed liquidationId);
    event WhitelistUpdated(address indexed user, bool whitelisted);
    event ReporterUpdated(address indexed reporter, bool authorised);
    event PoolFunded(address indexed from, uint256 amount);

    error NotOwner();
    error NotReporter(address caller);
    error NotWhitelisted(address user);
    error AlreadyPaid(bytes32 liquidationId);
    error InsufficientBalance(uint256 available, uint256 required);
    error ZeroAmount();
    error TransferFailed(address user, uint256 amount);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor() {
        owner = msg.sender;
    }

    /// @notice Funds the payout pool.
    receive() external payable {
        emit PoolFunded(msg.sender, msg.value);
    }

    function setWhitelisted(address user, bool whitelisted) external onlyOwner {
        _whitelisted[user] = whitelisted;
        emit WhitelistUpdated(user, whitelisted);
    }

    function isWhitelisted(address user) external view returns (bool) {
        return _whitelisted[user];
    }

    function setReporter(address reporter, bool authorised) external onlyOwner {
        isReporter[reporter] = authorised;
        emit ReporterUpdated(reporter, authorised);
    }

    /// @notice Reports the liquidation of an insured position.
    /// @param leverageRatio leverage at liquidation, scaled by 100 (1250 = 12.50x).
    /// @param liquidationAmount liquidated notional in wei.
    function liquidate(address user, uint256 leverageRatio, uint256 liquidationAmount) external {
        if (msg.sender != owner && !isReporter[msg.sender]) revert NotReporter(msg.sender);
        if (!_whitelisted[user]) revert NotWhitelisted(user);
        emit PositionLiquidated(user, leverageRatio, liquidationAmount);
    }

    /// @notice Pays `amount` wei from the pool to `user`, at most once per `liquidationId`.
    /// @dev Checks-effects-interactions: `paid` is recorded before the transfer, so a re-entrant
    /// call (or a second transaction) for the same id reverts with AlreadyPaid.
    function executePayout(address payable user, uint256 amount, bytes32 liquidationId) external onlyOwner {
        if (paid[liquidationId]) revert AlreadyPaid(liquidationId);
        if (!_whitelisted[user]) revert NotWhitelisted(user);
        if (amount == 0) revert ZeroAmount();
        uint256 available = address(this).balance;
        if (available < amount) revert InsufficientBalance(available, amount);

        paid[liquidationId] = true;
        emit PayoutExecuted(user, amount, liquidationId);

        (bool ok, ) = user.call{value: amount}("");
        if (!ok) revert TransferFailed(user, amount);
    }
}
